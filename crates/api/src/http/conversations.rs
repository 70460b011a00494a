//! `/v1/conversations`: one line's history with one customer, and its header actions.
//!
//! Reads and changes go to the [`crate::Conversations`] store on the blocking pool; sending a
//! message goes to the engine (it owns the SIP/SMS side), like call actions.
//!
//! A user token reaches a conversation when it is in a call in progress with that customer on
//! that line (the popup's "open conversation"), or when the store says so
//! ([`crate::Conversations::may_access`]).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::auth::{authenticate, require_write, Caller};
use super::calls::run;
use super::error::{ApiError, ApiPath, JsonBody};
use super::ApiState;
use crate::auth::Principal;
use crate::commands::Action;
use crate::conversations::Conversations;

/// The longest message body accepted (a few concatenated SMS).
const MAX_MESSAGE_CHARS: usize = 1600;

/// One conversation the token may read (`WRITE = false`) or change (`WRITE = true`). Checked
/// from the request line and headers, before any body is parsed.
pub struct ConversationRef<const WRITE: bool> {
    principal: Principal,
    line: String,
    customer: String,
}

impl<const WRITE: bool> FromRequestParts<ApiState> for ConversationRef<WRITE> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = authenticate(&parts.headers, None, state)?;
        if WRITE {
            require_write(&principal)?;
        }
        let ApiPath((line, customer)) =
            ApiPath::<(String, String)>::from_request_parts(parts, state).await?;
        require_access(state, &principal, &line, &customer).await?;
        Ok(ConversationRef {
            principal,
            line,
            customer,
        })
    }
}

type Readable = ConversationRef<false>;
type Writable = ConversationRef<true>;

pub async fn list(
    Caller(principal): Caller,
    State(state): State<ApiState>,
    ApiPath(line): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let only_for = principal.user().map(str::to_owned);
    let found = blocking(&state, move |store| store.list(&line, only_for.as_deref())).await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found("unknown line"))
}

pub async fn get(
    State(state): State<ApiState>,
    Readable { line, customer, .. }: Readable,
) -> Result<Json<Value>, ApiError> {
    let found = blocking(&state, move |store| store.get(&line, &customer)).await?;
    found.map(Json).ok_or_else(unknown_conversation)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    user: String,
}

pub async fn assign(
    State(state): State<ApiState>,
    Writable {
        principal,
        line,
        customer,
    }: Writable,
    JsonBody(body): JsonBody<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    if !state.accounts().has_user(&body.user) {
        return Err(ApiError::unprocessable(format!(
            "unknown user {:?}",
            body.user
        )));
    }
    let actor = principal.actor().to_owned();
    let found = blocking(&state, move |store| {
        store.assign(&line, &customer, &actor, &body.user)
    })
    .await?;
    found.map(Json).ok_or_else(unknown_conversation)
}

pub async fn close(
    State(state): State<ApiState>,
    Writable {
        principal,
        line,
        customer,
    }: Writable,
) -> Result<Json<Value>, ApiError> {
    let actor = principal.actor().to_owned();
    let found = blocking(&state, move |store| store.close(&line, &customer, &actor)).await?;
    found.map(Json).ok_or_else(unknown_conversation)
}

pub async fn reopen(
    State(state): State<ApiState>,
    Writable {
        principal,
        line,
        customer,
    }: Writable,
) -> Result<Json<Value>, ApiError> {
    let actor = principal.actor().to_owned();
    let found = blocking(&state, move |store| store.reopen(&line, &customer, &actor)).await?;
    found.map(Json).ok_or_else(unknown_conversation)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    body: String,
    /// Admin tokens may write on behalf of a user; a user token writes as itself.
    author: Option<String>,
}

pub async fn send_message(
    State(state): State<ApiState>,
    Writable {
        principal,
        line,
        customer,
    }: Writable,
    JsonBody(message): JsonBody<MessageBody>,
) -> Result<Json<Value>, ApiError> {
    let text = message.body.trim();
    if text.is_empty() {
        return Err(ApiError::unprocessable("body: empty message"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::unprocessable(format!(
            "body: longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let author = match (&principal, message.author) {
        (Principal::User(own), Some(asked)) if asked != *own => {
            return Err(ApiError::forbidden(format!(
                "a user token writes only as its own user ({own})"
            )))
        }
        (Principal::User(own), _) => own.clone(),
        (_, Some(asked)) if !state.accounts().has_user(&asked) => {
            return Err(ApiError::unprocessable(format!("unknown author {asked:?}")))
        }
        (_, Some(asked)) => asked,
        (_, None) => principal.actor().to_owned(),
    };
    run(
        &state,
        Action::SendMessage {
            line,
            customer,
            body: text.to_owned(),
            author,
        },
    )
    .await
}

async fn require_access(
    state: &ApiState,
    principal: &Principal,
    line: &str,
    customer: &str,
) -> Result<(), ApiError> {
    let Principal::User(user) = principal else {
        return Ok(());
    };
    let in_call = state.calls().any(|call| {
        call.line.number == line && call.caller.number == customer && call.involves(user)
    });
    if in_call {
        return Ok(());
    }
    let (l, c, u) = (line.to_owned(), customer.to_owned(), user.clone());
    if blocking(state, move |store| store.may_access(&l, &c, &u)).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "this conversation is not one of {user}'s"
        )))
    }
}

fn unknown_conversation() -> ApiError {
    ApiError::not_found("unknown conversation")
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    state: &ApiState,
    call: impl FnOnce(&dyn Conversations) -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.conversations().clone();
    tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|e| ApiError::internal("conversation store task failed", e))?
        .map_err(|e| ApiError::internal("conversation store failed", e))
}
