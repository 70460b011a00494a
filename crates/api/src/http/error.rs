//! Every error the API answers, as `{"error": "...", "status": N}`, and the extractors that
//! turn axum's plain-text rejections into it.
//!
//! Client mistakes get the precise 4xx: 400 for a malformed body or query, 415 for a body that
//! is not JSON, 422 for well-formed JSON with missing, unknown or mistyped fields, 404 for an
//! unknown path or id, 405 for a wrong method, 413 for an oversized body. A 500 is only ever
//! our own failure (the store's), and is logged.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::commands::{ActionError, DispatchError};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// `WWW-Authenticate` value for 401s.
    challenge: Option<&'static str>,
    /// `Retry-After` seconds for 503s.
    retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 401 for a request without a bearer token.
    pub fn missing_token() -> Self {
        ApiError {
            challenge: Some("Bearer"),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "missing bearer token")
        }
    }

    /// 401 for a token nobody configured (RFC 6750 §3.1 `invalid_token`).
    pub fn invalid_token() -> Self {
        ApiError {
            challenge: Some(r#"Bearer error="invalid_token""#),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "unknown bearer token")
        }
    }

    /// 403 for a viewer token on a route that changes something.
    pub fn read_only() -> Self {
        ApiError::forbidden("this token is read-only")
    }

    /// 503 asking the client to come back in a second.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// 500: our fault; the detail goes to the log, not to the client.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, context)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let error = ApiError::new(status, e.message());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            ApiError {
                retry_after: Some(1),
                ..error
            }
        } else {
            error
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Timeout => ApiError::unavailable("the engine did not answer in time"),
            DispatchError::Gone => ApiError::unavailable("the engine is not running"),
            DispatchError::Refused(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.message, "status": self.status.as_u16()}));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON request body. An empty body reads as `{}`, so optional fields default and required
/// ones are reported missing (422) rather than "EOF while parsing" (400).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
            if !is_json(content_type) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected Content-Type: application/json",
                ));
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::unprocessable(format!("invalid request body: {e}")),
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::bad_request(format!("malformed JSON body: {e}"))
                }
            }
        })
    }
}

fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Path parameters, with a JSON 400 when they cannot be decoded.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
    }
}

/// Query parameters, with a JSON 400 when they do not fit.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// 404 for any path no route matches.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// 405 for a known path with the wrong method.
pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "json"] {
            assert!(!is_json(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
