//! `/v1/users/{id}`: agent availability (the engine skips unavailable agents when ringing).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Writer;
use super::calls::run;
use super::error::{ApiError, ApiPath, JsonBody};
use super::ApiState;
use crate::auth::Principal;
use crate::commands::Action;

/// The `{id}` of a user the token may change: its own user, or any known user for an admin.
/// Checked before the body is parsed.
pub struct ChangeableUser(String);

impl FromRequestParts<ApiState> for ChangeableUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Writer(principal) = Writer::from_request_parts(parts, state).await?;
        let ApiPath(user) = ApiPath::<String>::from_request_parts(parts, state).await?;
        if let Principal::User(own) = &principal {
            if *own != user {
                return Err(ApiError::forbidden(format!(
                    "a user token changes only its own user ({own})"
                )));
            }
        }
        if !state.accounts().has_user(&user) {
            return Err(ApiError::not_found(format!("unknown user {user:?}")));
        }
        Ok(ChangeableUser(user))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityBody {
    available: bool,
}

pub async fn availability(
    State(state): State<ApiState>,
    ChangeableUser(user): ChangeableUser,
    JsonBody(body): JsonBody<AvailabilityBody>,
) -> Result<Json<Value>, ApiError> {
    run(
        &state,
        Action::SetAvailability {
            user,
            available: body.available,
        },
    )
    .await
}
