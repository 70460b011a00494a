//! `/v1/calls`: the snapshot of calls in progress, and the in-call actions.
//!
//! Reads come from the [`crate::CallDirectory`] only. An action is checked here, in the order
//! a client can fix things: token (401), token may write (403), call exists (404), token may
//! act on it (403), body well-formed (400/415/422), ids in it known (422); then it goes to the
//! engine, whose verdict becomes the response.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::auth::{authenticate, require_call_access, require_write, Caller};
use super::error::{ApiError, ApiPath, ApiQuery, JsonBody};
use super::filter::Filter;
use super::ApiState;
use crate::auth::{Accounts, Principal};
use crate::commands::{dispatch, parse_dtmf, Action, TransferTarget};
use crate::model::{CallState, CallView};

/// The call of a `/v1/calls/{id}/...` action, once the token may act on it. Being a parts
/// extractor, it runs before the body is parsed, so permission errors come first.
pub struct CallAction {
    principal: Principal,
    call: CallView,
}

impl FromRequestParts<ApiState> for CallAction {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = authenticate(&parts.headers, None, state)?;
        require_write(&principal)?;
        let ApiPath(id) = ApiPath::<String>::from_request_parts(parts, state).await?;
        let call = find(state, &id)?;
        require_call_access(&principal, &call)?;
        Ok(CallAction { principal, call })
    }
}

#[derive(Debug, Deserialize)]
pub struct CallsQuery {
    user: Option<String>,
    team: Option<String>,
    line: Option<String>,
    state: Option<CallState>,
}

#[derive(Serialize)]
pub struct CallList {
    calls: Vec<CallView>,
}

pub async fn list(
    Caller(principal): Caller,
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<CallsQuery>,
) -> Result<Json<CallList>, ApiError> {
    let accounts = state.accounts();
    let filter = Filter::build(&principal, query.user, query.team, query.line, &accounts)?;
    let calls = state.calls().list_where(|call| {
        filter.admits_call(call, &accounts) && query.state.is_none_or(|s| call.state == s)
    });
    Ok(Json(CallList { calls }))
}

pub async fn get(
    Caller(principal): Caller,
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CallView>, ApiError> {
    let call = find(&state, &id)?;
    require_call_access(&principal, &call)?;
    Ok(Json(call))
}

/// Body of decline and accept. A user token acts for itself; an admin names the agent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    agent: Option<String>,
}

pub async fn decline(
    State(state): State<ApiState>,
    CallAction { principal, call }: CallAction,
    JsonBody(body): JsonBody<AgentBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = acting_agent(&principal, body.agent, &state.accounts())?;
    run(
        &state,
        Action::Decline {
            call: call.id,
            agent,
        },
    )
    .await
}

pub async fn accept(
    State(state): State<ApiState>,
    CallAction { principal, call }: CallAction,
    JsonBody(body): JsonBody<AgentBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = acting_agent(&principal, body.agent, &state.accounts())?;
    run(
        &state,
        Action::Accept {
            call: call.id,
            agent,
        },
    )
    .await
}

pub async fn hangup(
    State(state): State<ApiState>,
    CallAction { call, .. }: CallAction,
) -> Result<Json<Value>, ApiError> {
    run(&state, Action::Hangup { call: call.id }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    #[serde(default = "yes")]
    hold: bool,
}

fn yes() -> bool {
    true
}

/// `{"hold": true}` (the default with an empty body) or `{"hold": false}`.
pub async fn hold(
    State(state): State<ApiState>,
    CallAction { call, .. }: CallAction,
    JsonBody(body): JsonBody<HoldBody>,
) -> Result<Json<Value>, ApiError> {
    run(
        &state,
        Action::Hold {
            call: call.id,
            hold: body.hold,
        },
    )
    .await
}

pub async fn unhold(
    State(state): State<ApiState>,
    CallAction { call, .. }: CallAction,
) -> Result<Json<Value>, ApiError> {
    run(
        &state,
        Action::Hold {
            call: call.id,
            hold: false,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    target: String,
}

pub async fn transfer(
    State(state): State<ApiState>,
    CallAction { call, .. }: CallAction,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result<Json<Value>, ApiError> {
    let target = TransferTarget::parse(&body.target).map_err(ApiError::unprocessable)?;
    let accounts = state.accounts();
    match &target {
        TransferTarget::User(user) if !accounts.has_user(user) => {
            return Err(ApiError::unprocessable(format!(
                "bad transfer target: unknown user {user:?}"
            )))
        }
        TransferTarget::Team(team) if accounts.team(team).is_none() => {
            return Err(ApiError::unprocessable(format!(
                "bad transfer target: unknown team {team:?}"
            )))
        }
        _ => {}
    }
    run(
        &state,
        Action::Transfer {
            call: call.id,
            target,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtmfBody {
    digits: String,
}

pub async fn dtmf(
    State(state): State<ApiState>,
    CallAction { call, .. }: CallAction,
    JsonBody(body): JsonBody<DtmfBody>,
) -> Result<Json<Value>, ApiError> {
    let digits = parse_dtmf(&body.digits).map_err(ApiError::unprocessable)?;
    run(
        &state,
        Action::Dtmf {
            call: call.id,
            digits,
        },
    )
    .await
}

fn find(state: &ApiState, id: &str) -> Result<CallView, ApiError> {
    state
        .calls()
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no call {id:?} in progress")))
}

/// Whom a decline or accept is for: a user token's own user (naming another is 403); for an
/// admin token, the `agent` it names, which must be a known user.
fn acting_agent(
    principal: &Principal,
    agent: Option<String>,
    accounts: &Accounts,
) -> Result<String, ApiError> {
    match (principal, agent) {
        (Principal::User(own), Some(agent)) if agent != *own => Err(ApiError::forbidden(format!(
            "a user token acts only for its own user ({own})"
        ))),
        (Principal::User(own), _) => Ok(own.clone()),
        (_, None) => Err(ApiError::unprocessable(
            "agent: required with an admin token",
        )),
        (_, Some(agent)) if !accounts.has_user(&agent) => {
            Err(ApiError::unprocessable(format!("unknown agent {agent:?}")))
        }
        (_, Some(agent)) => Ok(agent),
    }
}

/// Sends an action to the engine and turns its verdict into the response.
pub(super) async fn run(state: &ApiState, action: Action) -> Result<Json<Value>, ApiError> {
    let deadline = Instant::now() + state.options().command_timeout;
    dispatch(state.commands(), action, deadline).await?;
    Ok(Json(json!({ "ok": true })))
}
