//! The HTTP side: shared state, the route table, the server loop.

mod auth;
mod calls;
mod conversations;
mod error;
mod filter;
mod sse;
mod system;
mod users;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::auth::Accounts;
use crate::commands::ApiCommand;
use crate::conversations::Conversations;
use crate::directory::CallDirectory;
use crate::events::EventBus;
use crate::metrics::Metrics;

pub use error::ApiError;

/// Request bodies are a few fields; anything larger is a mistake or an attack (413).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Tunables with defaults fit for production.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// How long an action waits for the engine (queueing included) before answering 503.
    pub command_timeout: Duration,
    /// Interval of SSE keep-alive comments (proxies drop idle connections).
    pub keep_alive: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            command_timeout: Duration::from_secs(3),
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// Everything the API is built from. [`ApiParts::new`] makes fresh directory, bus and metrics;
/// replace them (struct update syntax) with the ones the engine already holds.
pub struct ApiParts {
    pub accounts: Accounts,
    pub calls: CallDirectory,
    pub events: EventBus,
    pub commands: mpsc::Sender<ApiCommand>,
    pub conversations: Arc<dyn Conversations>,
    pub metrics: Metrics,
    pub options: ApiOptions,
}

impl ApiParts {
    pub fn new(
        accounts: Accounts,
        commands: mpsc::Sender<ApiCommand>,
        conversations: Arc<dyn Conversations>,
    ) -> Self {
        ApiParts {
            accounts,
            calls: CallDirectory::new(),
            events: EventBus::default(),
            commands,
            conversations,
            metrics: Metrics::new(),
            options: ApiOptions::default(),
        }
    }
}

/// The state every handler sees. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct ApiState {
    shared: Arc<Shared>,
}

struct Shared {
    accounts: ArcSwap<Accounts>,
    calls: CallDirectory,
    events: EventBus,
    commands: mpsc::Sender<ApiCommand>,
    conversations: Arc<dyn Conversations>,
    metrics: Metrics,
    options: ApiOptions,
    /// Set once at shutdown; every SSE stream ends when it flips.
    closing: watch::Sender<bool>,
}

impl ApiState {
    pub fn new(parts: ApiParts) -> Self {
        ApiState {
            shared: Arc::new(Shared {
                accounts: ArcSwap::from_pointee(parts.accounts),
                calls: parts.calls,
                events: parts.events,
                commands: parts.commands,
                conversations: parts.conversations,
                metrics: parts.metrics,
                options: parts.options,
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Swaps in the tokens, users and teams of a reloaded configuration. Requests in flight
    /// finish with the old ones; SSE filters read team membership per event, so they follow.
    pub fn set_accounts(&self, accounts: Accounts) {
        self.shared.accounts.store(Arc::new(accounts));
    }

    pub fn calls(&self) -> &CallDirectory {
        &self.shared.calls
    }

    pub fn events(&self) -> &EventBus {
        &self.shared.events
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Ends every open SSE stream (and refuses to start new ones), so that a graceful HTTP
    /// shutdown does not wait forever on them. [`serve`] calls it when its signal fires.
    pub fn close_streams(&self) {
        self.shared.closing.send_replace(true);
    }

    fn accounts(&self) -> arc_swap::Guard<Arc<Accounts>> {
        self.shared.accounts.load()
    }

    fn commands(&self) -> &mpsc::Sender<ApiCommand> {
        &self.shared.commands
    }

    fn conversations(&self) -> &Arc<dyn Conversations> {
        &self.shared.conversations
    }

    fn options(&self) -> &ApiOptions {
        &self.shared.options
    }

    fn closing(&self) -> watch::Receiver<bool> {
        self.shared.closing.subscribe()
    }
}

/// The API's routes without state, fallbacks or layers: to merge more routes that need
/// [`ApiState`] before calling [`router_with`].
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/v1/openapi.json", get(system::openapi))
        .route("/v1/events", get(sse::events))
        .route("/v1/calls", get(calls::list))
        .route("/v1/calls/{id}", get(calls::get))
        .route("/v1/calls/{id}/decline", post(calls::decline))
        .route("/v1/calls/{id}/accept", post(calls::accept))
        .route("/v1/calls/{id}/hangup", post(calls::hangup))
        .route("/v1/calls/{id}/hold", post(calls::hold))
        .route("/v1/calls/{id}/unhold", post(calls::unhold))
        .route("/v1/calls/{id}/transfer", post(calls::transfer))
        .route("/v1/calls/{id}/dtmf", post(calls::dtmf))
        .route("/v1/conversations/{line}", get(conversations::list))
        .route(
            "/v1/conversations/{line}/{customer}",
            get(conversations::get),
        )
        .route(
            "/v1/conversations/{line}/{customer}/assign",
            post(conversations::assign),
        )
        .route(
            "/v1/conversations/{line}/{customer}/close",
            post(conversations::close),
        )
        .route(
            "/v1/conversations/{line}/{customer}/reopen",
            post(conversations::reopen),
        )
        .route(
            "/v1/conversations/{line}/{customer}/messages",
            post(conversations::send_message),
        )
        .route("/v1/users/{id}/availability", post(users::availability))
}

/// The complete API: routes, JSON 404/405 fallbacks, body limit, request metrics.
pub fn router(state: ApiState) -> Router {
    router_with(Router::new(), state)
}

/// [`router`] plus `extra` routes (the browser console, say), which get the same fallbacks,
/// body limit and request metrics. `extra` must not define a fallback of its own.
pub fn router_with(extra: Router<ApiState>, state: ApiState) -> Router {
    routes()
        .merge(extra)
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    state
        .metrics()
        .api_request(&method, response.status().as_u16());
    response
}

/// Serves [`router`] on `listener` until `shutdown` completes, then closes the SSE streams and
/// lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    serve_router(listener, app, state, shutdown).await
}

/// [`serve`] for a router built with [`router_with`].
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.close_streams();
        })
        .await
}
