//! Bearer-token authentication as an extractor, and the permission checks handlers share.
//!
//! `Authorization: Bearer <token>` everywhere. Browsers' `EventSource` cannot set headers, so
//! `/v1/events` alone also takes `?access_token=` (RFC 6750 §2.3); such URLs end up in proxy
//! logs, so the header stays the recommended way.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::ApiState;
use crate::auth::Principal;
use crate::model::CallView;

/// The authenticated principal of a request.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        authenticate(&parts.headers, None, state).map(Caller)
    }
}

/// The principal of a request that changes something: viewer tokens are refused (403) before
/// the body is even read.
#[derive(Debug)]
pub struct Writer(pub Principal);

impl FromRequestParts<ApiState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = authenticate(&parts.headers, None, state)?;
        require_write(&principal)?;
        Ok(Writer(principal))
    }
}

/// Authenticates from the `Authorization` header, else from `query_token` when the route
/// allows one.
pub fn authenticate(
    headers: &HeaderMap,
    query_token: Option<&str>,
    state: &ApiState,
) -> Result<Principal, ApiError> {
    let token = match headers.get(AUTHORIZATION) {
        Some(value) => bearer_token(value.as_bytes()).ok_or_else(ApiError::missing_token)?,
        None => query_token.ok_or_else(ApiError::missing_token)?,
    };
    state
        .accounts()
        .authenticate(token)
        .ok_or_else(ApiError::invalid_token)
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235 §2.1).
fn bearer_token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start();
    (!token.is_empty()).then_some(token)
}

/// Refuses viewer tokens on routes that change something.
pub fn require_write(principal: &Principal) -> Result<(), ApiError> {
    match principal {
        Principal::Viewer => Err(ApiError::read_only()),
        Principal::Admin | Principal::User(_) => Ok(()),
    }
}

/// Refuses a user token on a call it takes no part in.
pub fn require_call_access(principal: &Principal, call: &CallView) -> Result<(), ApiError> {
    match principal {
        Principal::User(user) if !call.involves(user) => Err(ApiError::forbidden(format!(
            "call {} is not one of {user}'s calls",
            call.id
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer_token(b"Basic YWxhZGRpbg=="), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"\xffBearer abc"), None);
    }
}
