//! Unauthenticated operational routes: liveness, metrics, the API description.
//!
//! `/metrics` carries counts only, no numbers or names, so Prometheus scrapes it without a
//! token; bind `[api] listen` to a private address when that matters.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;

/// The OpenAPI 3.1 description of this API, kept by hand next to the code.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub async fn healthz(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "calls": state.calls().len(),
        "sse_clients": state.metrics().sse_clients(),
    }))
}

pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().encode(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
