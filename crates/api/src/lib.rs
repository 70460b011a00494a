//! Switchboard's HTTP API: what agents' applications and operators see of the node, and the
//! few things they may ask of it.
//!
//! # Contract
//!
//! The SIP engine runs on its own thread and owns every call. This crate never reads or
//! changes call state directly, and nothing it does can block the engine:
//!
//! - **Out of the engine**, two shared values the engine writes and the API reads:
//!   the [`CallDirectory`] (a snapshot [`CallView`] per call in progress) and the [`EventBus`]
//!   (a bounded broadcast of [`Event`]s; publishing never waits, slow clients lose the oldest
//!   events and are told so). [`Publisher`] updates both in one call.
//! - **Into the engine**, [`ApiCommand`]s on a bounded `mpsc` channel, each with a `oneshot`
//!   for the verdict (`Ok` or an [`ActionError`] carrying the HTTP status). An engine that
//!   does not answer within [`ApiOptions::command_timeout`] makes the request a 503.
//! - **Conversations** come from a [`Conversations`] store, called on the blocking pool.
//! - **Metrics**: the engine records into [`Metrics`] (atomics only); `GET /metrics` shows it.
//!
//! The routes, token rules and event format are in `API.md` beside this crate and in
//! `openapi.json` (served at `/v1/openapi.json`).
//!
//! # Wiring (in the daemon)
//!
//! ```no_run
//! # async fn wire(cfg: config::Config) -> std::io::Result<()> {
//! use std::sync::Arc;
//! let (commands, mut command_rx) = tokio::sync::mpsc::channel::<api::ApiCommand>(256);
//! let parts = api::ApiParts::new(
//!     api::Accounts::from_config(&cfg),
//!     commands,
//!     Arc::new(api::NoConversations), // or the store's adapter
//! );
//! let state = api::ApiState::new(parts);
//! // Engine side: keep these, and drain `command_rx` between protocol steps.
//! let publisher = api::Publisher::new(state.calls().clone(), state.events().clone());
//! let metrics = state.metrics().clone();
//! // On SIGHUP: state.set_accounts(api::Accounts::from_config(&new_cfg));
//! let listener = tokio::net::TcpListener::bind(cfg.api.listen).await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! tokio::spawn(api::serve(listener, state, shutdown));
//! # let _ = (publisher, metrics, command_rx.try_recv());
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod commands;
pub mod conversations;
pub mod directory;
pub mod events;
mod http;
pub mod metrics;
pub mod model;

pub use auth::{Accounts, Principal};
pub use commands::{Action, ActionError, ApiCommand, TransferTarget};
pub use conversations::{Conversations, NoConversations};
pub use directory::CallDirectory;
pub use events::{Event, EventBus, EventKind, Published, Publisher};
pub use http::{
    router, router_with, routes, serve, serve_router, ApiError, ApiOptions, ApiParts, ApiState,
};
pub use metrics::{CallOutcome, ForkOutcome, Metrics, RegistrationResult};
pub use model::{
    AgentState, AgentView, CallState, CallView, CallerView, IvrView, LineView, TimelineEntry,
};
